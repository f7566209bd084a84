// Vercel cron /api/cron/drain: Vercel builds the Cargo binary `drain` (functions/drain).
