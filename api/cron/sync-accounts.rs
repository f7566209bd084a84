// Vercel cron /api/cron/sync-accounts: Vercel builds the Cargo binary `sync-accounts` (functions/sync-accounts).
