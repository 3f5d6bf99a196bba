"""Who may vote, and which votes count.

- :mod:`arena.integrity.voters`: server-issued voter tokens and the optional gates
  (proof of work, access codes);
- :mod:`arena.integrity.limits`: rate limits per voter and per client address;
- :mod:`arena.integrity.identity`: answers in which a model names itself;
- :mod:`arena.integrity.rigging`: the statistics the recomputation uses to leave out
  capped, steering and improbable voters.
"""
