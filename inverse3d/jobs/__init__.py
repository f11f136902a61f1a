"""Jobs the launcher runs: each module has ``run(config, workdir)``."""
