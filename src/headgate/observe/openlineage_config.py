"""``openlineage:`` in headgate.yml: where headgate posts OpenLineage events for its runs.

```yaml
openlineage:
  url: http://marquez.internal:5000        # events go to <url>/<endpoint>
  endpoint: api/v1/lineage                 # Marquez's (and a headgate hub's) path
  namespace: analytics                     # the jobs' namespace (default: the project's name)
  api_key_env: OPENLINEAGE_API_KEY         # sent as a Bearer token when the variable is set
  timeout: 5                               # seconds per post; a slow consumer never holds a run
```
"""

from __future__ import annotations

from pydantic import Field, field_validator

from headgate.project.strict import StrictModel


class OpenLineageConfig(StrictModel):
    url: str = Field(description="the consumer's base URL: http(s)://host[:port][/path]")
    endpoint: str = Field(default="api/v1/lineage", max_length=200)
    namespace: str | None = Field(
        default=None,
        max_length=200,
        description="the jobs' namespace (default: the project's name)",
    )
    api_key_env: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z_][A-Za-z0-9_]*$",
        description="an environment variable holding the API key (sent as a Bearer token)",
    )
    timeout: float = Field(default=5.0, gt=0, le=120, description="seconds per post")

    @field_validator("url")
    @classmethod
    def _http(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("use an http:// or https:// URL, e.g. http://marquez:5000")
        if "@" in value.split("//", 1)[1].split("/", 1)[0]:
            raise ValueError(
                "put no credentials in the URL: name an environment variable in api_key_env"
            )
        return value
