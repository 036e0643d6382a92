"""Roadie's core: messages, the conversation service, the agent and its offline planner."""
