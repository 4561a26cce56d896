"""The warm server (`lstm-warm start`): one process per environment that has imported torch,
Lightning and lstm-lab once, and forks a run for each `lstm-train`, `lstm-eval`,
`lstm-predict` or `lstm-compare` typed while it lives. wire.py is what both sides share
(the socket's place, the messages); client.py is the console scripts' first step (stdlib only,
so a cold start pays nothing for it); server.py the process that waits and forks."""
