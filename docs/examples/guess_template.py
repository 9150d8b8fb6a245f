"""GuessNumber prompted with its own template: three past turns, no action list, its own format line."""

from guess_env import GuessNumberEnv

import agentgym
from agentgym.rollout.prompts import Template, register_template

register_template(Template(
    family="guess",
    history=3,  # past turns in the prompt: the default of every run on an env of this family
    tags=("action",),
    format_line="Reply <think>...</think><action>guess N</action>",
    show_admissible=False,  # twenty "guess N" actions say nothing the format line does not
))


class TemplatedGuessEnv(GuessNumberEnv):
    prompt_family = "guess"


agentgym.register("example/GuessNumberTemplated-v0", "guess_template:TemplatedGuessEnv", high=20)
