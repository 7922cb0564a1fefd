"""Evaluation at data-set scale: one run sequence over many photos (:mod:`.run`), its summary
into a leaderboard with intervals over photos (:mod:`.summary`), and the shortcut lab, which
checks the explainers against a model known to cheat (:mod:`.shortcut`)."""
