// Vercel route /api/signup: Vercel builds the Cargo binary named like this file, `signup` (functions/signup).
