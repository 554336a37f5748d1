"""Many accounts on Celery workers over PostgreSQL and a broker (RabbitMQ, or Redis).

- `celery_app`: the Celery app, configured from the settings (broker URL, queue), for at-least-once delivery.
- `tasks`: `run_slots`, an account's due (job, scheduled_for) slots under the account's lease, and `run_batch`,
  several simulated accounts' slots in one message, each under its lease.
- `dispatch`: moves the due rows of `job_schedule` forward and publishes them, each slot once.
- `coordinator`: `simulate --accounts N`, one shared virtual clock advanced tick by tick.
- `applimits`: a platform app's rate limit shared by every account (X's per-app caps).
- `health`: the broker check of doctor, and the broker probe of the commands.
"""
