"""Inner-loop agents, each training a population of P independent members in one computation."""
from agents.ddqn import DDQN

AGENTS = {"ddqn": DDQN}
