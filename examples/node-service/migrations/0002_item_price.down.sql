alter table items drop column price_cents;
