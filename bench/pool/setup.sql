-- pg_apes_health pool benchmark: roles, databases, tables.  Run by bench/pool/run.sh as the superuser in the
-- database postgres of the throwaway cluster; expects these psql variables:
--   pw            password of the four application roles (the cluster's PGPASSWORD, so one environment serves all)
--   report_limit  CONNECTION LIMIT of app_report (a role with a limit of its own)
--   b_limit       CONNECTION LIMIT of the database apes_pool_b (a database with a limit of its own)
--   plain_sql     path of bench/pool/plain_sql.sql

\set ON_ERROR_STOP 1
SET client_min_messages = warning;

DROP DATABASE IF EXISTS apes_pool;
DROP DATABASE IF EXISTS apes_pool_b;
DROP ROLE IF EXISTS app_web;
DROP ROLE IF EXISTS app_api;
DROP ROLE IF EXISTS app_report;
DROP ROLE IF EXISTS app_batch;

CREATE ROLE app_web    LOGIN PASSWORD :'pw';
CREATE ROLE app_api    LOGIN PASSWORD :'pw';
CREATE ROLE app_report LOGIN PASSWORD :'pw' CONNECTION LIMIT :report_limit;
CREATE ROLE app_batch  LOGIN PASSWORD :'pw';

CREATE DATABASE apes_pool;
CREATE DATABASE apes_pool_b CONNECTION LIMIT :b_limit;

\connect apes_pool
SET client_min_messages = warning;
CREATE EXTENSION pg_stat_statements;
CREATE EXTENSION pg_apes_health;

-- acct: the row the blocking chain fights over.  t_mid: the table the middle of the chain locks.
CREATE TABLE acct (id int PRIMARY KEY, n int NOT NULL DEFAULT 0);
INSERT INTO acct SELECT g, 0 FROM generate_series(1, 1000) g;
CREATE TABLE t_mid (id int PRIMARY KEY, v text);
INSERT INTO t_mid SELECT g, 'v' || g FROM generate_series(1, 1000) g;
GRANT SELECT, INSERT, UPDATE, DELETE, TRUNCATE ON acct, t_mid TO app_web, app_api, app_report, app_batch;
VACUUM (ANALYZE) acct, t_mid;

\i :plain_sql
