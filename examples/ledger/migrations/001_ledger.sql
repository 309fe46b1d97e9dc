-- The ledger example's tables (migration set `ledger`). One row per applied event;
-- a duplicate applied twice would show at once as a primary-key violation or a
-- wrong balance. `if not exists`: databases made before the example had its own
-- set already have these tables from idem's first migration.
create table if not exists ledger_entries (
  event_id   text primary key,
  account    text not null,
  amount     bigint not null,
  created_at timestamptz not null default now()
);
create index if not exists ledger_entries_account_idx on ledger_entries (account, created_at);

create table if not exists account_balances (
  account    text primary key,
  balance    bigint not null default 0,
  entries    bigint not null default 0,
  updated_at timestamptz not null default now()
);
