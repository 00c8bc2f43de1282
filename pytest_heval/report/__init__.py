"""Reports: the terminal summary (:mod:`.terminal`) and JUnit XML properties (:mod:`.junit`)."""
