"""Following a maintenance wave to its end, after the first notice.

    records.py    the per-VM maintenance record (Table storage) and its repository
    announcements.py  what Azure's notices write into the records (a new wave, a closed one)
    notices.py    what the sweep and reminders tell people, as events the route stage takes
    sweep.py      re-read watched subscriptions, compare with the records, find what changed
    reminders.py  before the self-service window closes and the scheduled window opens
    silences.py   matchers that hold the sweep's and reminders' messages back a while
    started.py    maintenance someone started outside forewarn (the Administrative alert)
    runner.py     one pass of either, wired to ARM, storage and the routing file

Everything here is domain code: no ``azure.functions`` import. The timer triggers are
``functions/sweep.py`` and ``functions/reminders.py``; the command lines are
``forewarn sweep`` and ``forewarn silence``.
"""
