"""Built-in environments. Each registers lazily (by entry-point string), so importing this is cheap.

The top-level package imports this module: the built-in envs are registered whenever agentgym is
imported, and the registry (agentgym.core, a lower layer) imports no env."""

from agentgym.core.registry import register

# One line per built-in env; the module is only imported when the env is made.
BUILTIN: dict[str, str] = {
    "agentgym/ALFWorld-v0": "agentgym.envs.alfworld.env:ALFWorldEnv",
    "agentgym/ALFWorld-Small-v0": "agentgym.envs.alfworld.env:ALFWorldSmallEnv",
    "agentgym/ALFWorld-Real-v0": "agentgym.envs.alfworld.adapter:RealALFWorldEnv",
    "agentgym/SearchQA-v0": "agentgym.envs.searchqa.env:SearchQAEnv",
    "agentgym/WebShop-v0": "agentgym.envs.webshop.env:WebShopEnv",
    "agentgym/WebShop-Browser-v0": "agentgym.envs.webshop.browser:WebShopBrowserEnv",
}

for _id, _ep in BUILTIN.items():
    register(_id, _ep)
