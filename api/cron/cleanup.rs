// Vercel cron /api/cron/cleanup: Vercel builds the Cargo binary `cleanup` (functions/cleanup).
