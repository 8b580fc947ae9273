create table items (
    id serial primary key,
    name text not null unique,
    created_at timestamptz not null default now()
);
insert into items (name) values ('first'), ('second');
