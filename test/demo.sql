-- The demo database: a small shop with planted index problems, and near-misses that must NOT be reported.
-- Loaded by `make demo` (test/demo.sh); the report it prints should show exactly the planted findings:
--   warning   index_invalid     shop.customers_region_key       (failed CREATE UNIQUE INDEX CONCURRENTLY)
--   warning   index_duplicate   shop.orders_status_idx1          (same as shop.orders_status_idx)
--   warning   index_duplicate   shop.measurements_sensor_idx1    (partitioned: DDL without CONCURRENTLY)
--   warning   index_redundant   shop.orders_placed_at_idx        (prefix of orders_placed_at_status_idx)
--   warning   index_redundant   shop.customers_email_idx         (the unique customers_email_key covers it)
--   warning   index_redundant   shop.products_sku_late_idx       (its predicate is a range products_sku_idx searches)
--   warning   index_unused      shop.events_payload_idx          (never scanned, over 1 MB)
--   warning   fk_missing_index  shop.orders                      (orders_customer_id_fkey)
--   warning   fk_missing_index  shop.stock                       (composite stock_wh_fkey)
--   warning   table_bloat       shop.order_history               (three rows in four deleted; VACUUM freed the space)
--   warning   index_bloat       shop.order_history_ref_idx       (the same deletes left its leaf pages a quarter full)
--   warning   toast_bloat       shop.documents                   (four documents in five purged from TOAST)
--   warning   sequence_exhaustion shop.tickets_id_seq            (a serial key at 85% of its integer range)
--   warning   autovacuum_disabled shop.documents, shop.order_history (autovacuum turned off to keep the bloat)
--   warning   index_missing     shop.invoices (customer_ref)     (its look-ups scan the whole table; a hypothetical
--                                                                 index makes them a few pages)
--   info      index_unused      shop.invoices_due_idx            (never scanned, made after the last billing run:
--                                                                 "keep", the billing statement needs it)
-- make demo adds a session idle in transaction (vacuum_horizon_held) and rows it keeps VACUUM from removing
-- (table_bloat on shop.sessions, recently dead), a replication slot nobody reads, failing WAL archiving, a table
-- autovacuum cannot keep up with, and an acknowledged finding; see test/demo.sh.
\set ON_ERROR_STOP on
SET client_min_messages = warning;
CREATE SCHEMA shop;

CREATE TABLE shop.customers (
    id         bigint PRIMARY KEY,
    email      text NOT NULL,
    name       text,
    region     text,
    created_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO shop.customers (id, email, name, region)
SELECT g, 'user' || g || '@example.com', 'Customer ' || g, (ARRAY['north', 'south', 'east', 'west'])[1 + g % 4]
  FROM generate_series(1, 2000) g;

CREATE TABLE shop.orders (
    id          bigint PRIMARY KEY,
    customer_id bigint NOT NULL REFERENCES shop.customers,       -- planted: no index on customer_id
    status      text NOT NULL,
    placed_at   timestamptz NOT NULL,
    total       numeric(12, 2)
);
INSERT INTO shop.orders
SELECT g, 1 + g % 2000, (ARRAY['open', 'paid', 'shipped'])[1 + g % 3], now() - g * interval '1 minute', g % 500
  FROM generate_series(1, 10000) g;

CREATE TABLE shop.order_lines (
    order_id   bigint NOT NULL REFERENCES shop.orders,          -- near-miss: the primary key leads with order_id
    line_no    integer NOT NULL,
    product_id bigint,
    qty        integer,
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE shop.warehouses (
    region text,
    code   text,
    PRIMARY KEY (region, code)
);
CREATE TABLE shop.stock (
    id        bigint PRIMARY KEY,
    wh_code   text,
    wh_region text,
    qty       integer,
    CONSTRAINT stock_wh_fkey FOREIGN KEY (wh_region, wh_code) REFERENCES shop.warehouses (region, code)  -- planted
);
CREATE TABLE shop.shipments (
    id        bigint PRIMARY KEY,
    wh_region text,
    wh_code   text,
    CONSTRAINT shipments_wh_fkey FOREIGN KEY (wh_region, wh_code) REFERENCES shop.warehouses (region, code)
);
-- near-miss: the FK columns in another order still lead this index
CREATE INDEX shipments_wh_idx ON shop.shipments (wh_code, wh_region);

CREATE TABLE shop.products (
    id           bigint PRIMARY KEY,
    sku          text,
    price        numeric,
    discontinued boolean NOT NULL DEFAULT false
);

-- planted: an exact duplicate
CREATE INDEX orders_status_idx ON shop.orders (status);
CREATE INDEX orders_status_idx1 ON shop.orders (status);
-- planted: a leading prefix of a wider index
CREATE INDEX orders_placed_at_idx ON shop.orders (placed_at);
CREATE INDEX orders_placed_at_status_idx ON shop.orders (placed_at, status);
-- planted: a unique index beside a non-unique one on the same column (the non-unique one goes)
CREATE UNIQUE INDEX customers_email_key ON shop.customers (email);
CREATE INDEX customers_email_idx ON shop.customers (email);
-- planted: a partial index whose predicate implies the other's, and only adds a range on the key itself
CREATE INDEX products_sku_idx ON shop.products (sku) WHERE sku IS NOT NULL;
CREATE INDEX products_sku_late_idx ON shop.products (sku) WHERE sku IS NOT NULL AND sku >= 'SKU-5';

-- near-misses, none of which may be reported:
CREATE INDEX customers_name_idx ON shop.customers (name);                              -- different opclass
CREATE INDEX customers_name_pattern_idx ON shop.customers (name text_pattern_ops);
CREATE INDEX customers_region_idx ON shop.customers (region);                          -- different collation
CREATE INDEX customers_region_c_idx ON shop.customers (region COLLATE "C");
CREATE INDEX orders_total_idx ON shop.orders (total);                                  -- DESC vs ASC
CREATE INDEX orders_total_desc_idx ON shop.orders (total DESC);
CREATE INDEX products_price_active_idx ON shop.products (price) WHERE NOT discontinued; -- predicates not implied
CREATE INDEX products_price_cheap_idx ON shop.products (price) WHERE price < 10;
CREATE INDEX products_sku_expensive_idx ON shop.products (sku) WHERE sku IS NOT NULL AND price > 100; -- filters on
                                                   -- price, which products_sku_idx cannot search: it keeps its use
CREATE INDEX customers_lower_email_idx ON shop.customers (lower(email));               -- different expressions
CREATE INDEX customers_upper_email_idx ON shop.customers (upper(email));

-- planted: a partitioned table whose parent has the same index twice (DDL must not use CONCURRENTLY)
CREATE TABLE shop.measurements (sensor_id integer, at timestamptz, value double precision) PARTITION BY RANGE (at);
CREATE TABLE shop.measurements_2026 PARTITION OF shop.measurements FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
CREATE TABLE shop.measurements_2027 PARTITION OF shop.measurements FOR VALUES FROM ('2027-01-01') TO ('2028-01-01');
CREATE INDEX measurements_sensor_idx ON shop.measurements (sensor_id);
CREATE INDEX measurements_sensor_idx1 ON shop.measurements (sensor_id);

-- planted: an index nobody scans, big enough to matter (over pg_apes_health.unused_index_min_size, 1 MB)
CREATE TABLE shop.events (id bigint PRIMARY KEY, payload text);
INSERT INTO shop.events SELECT g, md5(g::text) FROM generate_series(1, 40000) g;
CREATE INDEX events_payload_idx ON shop.events (payload);

-- planted: a failed CREATE UNIQUE INDEX CONCURRENTLY leaves an invalid index behind (regions repeat)
\set ON_ERROR_STOP off
\set VERBOSITY terse
CREATE UNIQUE INDEX CONCURRENTLY customers_region_key ON shop.customers (region);
\set VERBOSITY default
\set ON_ERROR_STOP on

-- planted bloat: a history table that lost three rows in four; VACUUM made the space free, only a rewrite returns
-- it.  Its order_ref index keeps a quarter-full leaf page for every page it had (a REINDEX gives the rest back); a
-- look-up below keeps it from being reported unused.  The primary key wastes as much in share, less than the 10 MB
-- pg_apes_health.bloat_min_size: a near-miss.
CREATE TABLE shop.order_history (id bigint PRIMARY KEY, order_ref text NOT NULL, note text)
    WITH (autovacuum_enabled = off);
INSERT INTO shop.order_history
SELECT g, md5(g::text) || md5((g + 1)::text), 'archived order ' || g FROM generate_series(1, 300000) g;
CREATE INDEX order_history_ref_idx ON shop.order_history (order_ref);
DELETE FROM shop.order_history WHERE id % 4 <> 0;
VACUUM shop.order_history;
SET enable_seqscan = off;
SELECT count(*) AS found FROM shop.order_history WHERE order_ref = md5('4') || md5('5') \g /dev/null
RESET enable_seqscan;
SELECT pg_stat_force_next_flush() \g /dev/null

-- planted TOAST bloat: documents stored out of line, four in five purged; the heap itself is small (a near-miss)
CREATE TABLE shop.documents (id bigint PRIMARY KEY, body text)
    WITH (autovacuum_enabled = off, toast.autovacuum_enabled = off);
ALTER TABLE shop.documents ALTER COLUMN body SET STORAGE EXTERNAL;
INSERT INTO shop.documents
SELECT g, (SELECT string_agg(md5(g::text || '-' || i), '') FROM generate_series(1, 100) i)
  FROM generate_series(1, 10000) g;
DELETE FROM shop.documents WHERE id % 5 <> 0;
VACUUM shop.documents;

-- planted: a serial key at 85% of its integer range (sequence_exhaustion: the column and its sequence need bigint);
-- near-miss: a bigint identity key far from its end
CREATE TABLE shop.tickets (id serial PRIMARY KEY, subject text);
SELECT setval('shop.tickets_id_seq', 1825361100) \g /dev/null
CREATE TABLE shop.audit_log (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, what text);
SELECT setval('shop.audit_log_id_seq', 1825361100) \g /dev/null

-- near-miss: a big table with no bloat at all
CREATE TABLE shop.ledger (id bigint PRIMARY KEY, amount numeric(12, 2), booked_at timestamptz);
INSERT INTO shop.ledger SELECT g, g % 1000, now() FROM generate_series(1, 300000) g;

-- planted (index advice): the workload's own statements, which pg_stat_statements records as they run.  The monthly
-- billing run reads shop.invoices by due_at; invoices_due_idx was created after the last run, so no scan ever used
-- it and the counters call it unused, but planned without it the billing statement costs several times more: the
-- report says to keep it.  The look-ups by customer_ref have no index: a sequential scan each, which a hypothetical
-- index on customer_ref makes a few pages: index_missing suggests it (due_at is a near-miss: an index serves it).
CREATE TABLE shop.invoices (id bigint PRIMARY KEY, customer_ref text NOT NULL, due_at timestamptz NOT NULL,
                            amount numeric(12, 2));
INSERT INTO shop.invoices
SELECT g, 'CUST-' || (g % 20000), timestamptz '2026-01-01 00:00+00' + g * interval '5 minutes', g % 700
  FROM generate_series(1, 100000) g;
ANALYZE shop.invoices;
SELECT count(*), sum(amount) FROM shop.invoices WHERE due_at >= '2026-03-01' AND due_at < '2026-04-01' \g /dev/null
SELECT count(*), sum(amount) FROM shop.invoices WHERE due_at >= '2026-04-01' AND due_at < '2026-05-01' \g /dev/null
\o /dev/null
SELECT format('SELECT id, amount FROM shop.invoices WHERE customer_ref = %L', 'CUST-' || g)
  FROM generate_series(1, 40) g \gexec
\o
CREATE INDEX invoices_due_idx ON shop.invoices (due_at);

-- flush this session's row counts before ANALYZE, or they would land after it and look like changes since
SELECT pg_stat_force_next_flush() \g /dev/null
ANALYZE;
