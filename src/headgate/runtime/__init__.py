"""Running plans: the task graph, its executor, and the run that publishes at the end."""
