"""Built-in environments. Each registers lazily (by entry-point string), so importing this is cheap.

The top-level package imports this module: the built-in envs are registered whenever agentgym is
imported, and the registry (agentgym.core, a lower layer) imports no env. Each env's profile (prompt
template, rewards, skill library, default-model recipe) is declared in its own package (`profile.py`)."""

from agentgym.core.profile import EnvProfile
from agentgym.core.registry import register
from agentgym.envs.alfworld.profile import PROFILE as ALFWORLD
from agentgym.envs.searchqa.profile import PROFILE as SEARCHQA
from agentgym.envs.webshop.profile import BROWSER_PROFILE as WEBSHOP_BROWSER
from agentgym.envs.webshop.profile import PROFILE as WEBSHOP

# One line per built-in env; the module is only imported when the env is made.
BUILTIN: dict[str, tuple[str, EnvProfile]] = {
    "agentgym/ALFWorld-v0": ("agentgym.envs.alfworld.env:ALFWorldEnv", ALFWORLD),
    "agentgym/ALFWorld-Small-v0": ("agentgym.envs.alfworld.env:ALFWorldSmallEnv", ALFWORLD),
    "agentgym/ALFWorld-Real-v0": ("agentgym.envs.alfworld.adapter:RealALFWorldEnv", ALFWORLD),
    "agentgym/SearchQA-v0": ("agentgym.envs.searchqa.env:SearchQAEnv", SEARCHQA),
    "agentgym/WebShop-v0": ("agentgym.envs.webshop.env:WebShopEnv", WEBSHOP),
    "agentgym/WebShop-Browser-v0": ("agentgym.envs.webshop.browser:WebShopBrowserEnv", WEBSHOP_BROWSER),
}

for _id, (_ep, _profile) in BUILTIN.items():
    register(_id, _ep, profile=_profile)
