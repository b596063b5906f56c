"""Access logs (アクセスログ): reading target systems' sign-in logs into SignInEvent rows.

`parsers` reads the three formats line by line (no Django models); `ingestion` records each
ingestion, stores its sign-ins in batches and sweeps up what a broker or a worker left behind."""
