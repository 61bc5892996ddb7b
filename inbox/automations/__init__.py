"""Automations (issue 20): messages the business starts, on seven triggers, from templates.

- `triggers`: the seven triggers, their timing (offsets, business hours) and the words a customer
  answers with (feedback scores, opt-out). Pure.
- `schedule`: writes the runs: one row per (automation, contact, occurrence), whatever repeats,
  and a `jobs` row that wakes it at its due time; moves and cancels them with their appointment.
- `execute`: the jobs worker's handler for a due run: decides `sent` (a system message through
  the outbox, as an approved provider template when the window is closed), `skipped` or
  `cancelled`, with its reason, in one transaction.
- `watch`: the worker that notices what no action announces: new leads, birthdays.
- `manage`: automations' CRUD, their runs, the ready-made presets.

Runs are claimed with the jobs worker's leases (several processes, a crash loses nothing), and a run
is decided once: a second claim of a decided run does nothing.
"""
