"""The AI-first responder: answers customers on bot channels through an OpenAI-compatible model and
hands the conversation to a human when it should (see bot/policy.py for when).

Modules: config (settings layers), policy (handoff rules), prompt (what the model sees), model (the SDK
call), responder (the `bot` job), stats (usage figures). `bot.responder` registers the job handler.
"""
