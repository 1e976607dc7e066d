"""Delivery: the queue stage that sends each job once, and the dead-letter tools around it.

stage.DeliveryStage      one queue message → idempotent send, log, retry or dead-letter
results.DeliveryResult   what one send came to (every sender returns one); target masking
records                  the ledger, log and dead-letter tables
threads                  where a wave's earlier message went, for follow-ups in its thread
deadletters              list_dead_letters() for a human, replay(ids) back onto the queue

This file imports nothing: a sender importing ``results`` must not load the stage that imports
the senders (docs/architecture.md, "Layers").
"""
