alter table items add column price_cents integer not null default 0 check (price_cents >= 0);
