"""The dashboard (`growthloop serve`): server-rendered pages over the same store the jobs write.

data.py      what each page shows, read through the store and the stages' own readers
charts.py    the pages' plots as Plotly figure specifications (plain JSON, drawn in the browser)
guard.py     the action token, the per-session CSRF token and the origin check
app.py       the Starlette application: routes, error pages, static files (Plotly's JS from its package)
copies.py    a many-account database made by relabelling one simulated account (for the benchmark)
bench.py     each page's median server time
"""
