// Prisma's schema engine reads the catalog through the better-sqlite3 driver adapter, as the
// suite's studios do (tests/integration/test_prisma.py points DLX_ART_PRISMA_DB at a catalog).
import { defineConfig } from 'prisma/config'
import { PrismaBetterSQLite3 } from '@prisma/adapter-better-sqlite3'

const db = process.env.DLX_ART_PRISMA_DB ?? 'library.sqlite3'

export default defineConfig({
  experimental: { adapter: true },
  engine: 'js',
  schema: 'schema.prisma',
  adapter: async () => new PrismaBetterSQLite3({ url: `file:${db}` }),
})
