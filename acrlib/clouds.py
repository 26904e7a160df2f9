"""Azure clouds: where ARM and Log Analytics live, which scopes their tokens need, which authority signs
them."""

from __future__ import annotations

from dataclasses import dataclass

# The ACR data-plane audience is the same in every cloud.
ACR_SCOPE = "https://containerregistry.azure.net/.default"


@dataclass(frozen=True)
class Cloud:
    name: str
    arm_endpoint: str
    arm_scope: str
    authority: str
    acr_suffix: str
    logs_endpoint: str  # the Log Analytics query API; its token audience is the same URL


CLOUDS: dict[str, Cloud] = {
    "public": Cloud("public", "https://management.azure.com", "https://management.azure.com/.default",
                    "login.microsoftonline.com", ".azurecr.io", "https://api.loganalytics.io"),
    "china": Cloud("china", "https://management.chinacloudapi.cn", "https://management.chinacloudapi.cn/.default",
                   "login.chinacloudapi.cn", ".azurecr.cn", "https://api.loganalytics.azure.cn"),
    "usgov": Cloud("usgov", "https://management.usgovcloudapi.net",
                   "https://management.core.usgovcloudapi.net/.default", "login.microsoftonline.us", ".azurecr.us",
                   "https://api.loganalytics.us"),
}


def cloud(name: str) -> Cloud:
    """The named cloud; ``ValueError`` naming the known clouds otherwise."""
    try:
        return CLOUDS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown cloud {name!r}; clouds are {', '.join(CLOUDS)}") from None
