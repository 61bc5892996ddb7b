"""The AI-first responder: answers customers on bot channels through an OpenAI-compatible model and
hands the conversation to a human when it should (see bot/policy.py for when).

Modules: config (settings layers), policy (handoff rules), prompt (what the model sees), model (the SDK
call), responder (the `bot` job: read, decide, ask), actions (its writes), stats (usage figures), api
(its HTTP routes). The core never imports this package: the composition (inbox/app.py) hands the
job handler to the jobs worker and the routes to the app.
"""
