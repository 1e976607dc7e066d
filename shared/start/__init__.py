"""Start maintenance from the message: a person presses "Start now" on a plan step.

    audit.py      every press, confirmation, refusal and outcome: a row and a log line
    principal.py  who pressed: App Service authentication's headers, trusted only when set up
    desk.py       the checks, made again at the moment of confirming, then performMaintenance

Nothing in a link or a message is trusted for the decision: each VM is read again from ARM when
the page is shown and again when the person confirms. The link says only which wave, which VMs
and which receiver's allow-list apply; its signature says forewarn made it.

    StartError
    └── StartRefusedError   a check said no (``.code`` for tools, ``str()`` for people)
"""
