-- Session settings of the role the servers log in as: run once, as that
-- role (docs/scaling.txt, "PostgreSQL: database and role"):
--
--   psql "host=127.0.0.1 port=5432 dbname=myproject user=myproject" -f etc/postgresql-session.sql
--
-- Every RelStorage commit checks the objects it stores against
-- object_state with joins on its temporary table temp_store.  PostgreSQL
-- never analyzes a temporary table, takes it for about 1,600 rows (a
-- commit stores a few) and picks a hash join that reads the whole of
-- object_state: every write then costs PostgreSQL time in proportion to
-- the database (docs/benchmarks.txt, "Writes on PostgreSQL").  With hash
-- and merge joins off it probes object_state's primary key once per
-- stored object.  No query of the servers' sessions needs either join;
-- zodbpack's do: etc/zodbpack-postgresql.conf turns them on again.
ALTER ROLE CURRENT_USER SET enable_hashjoin = off;
ALTER ROLE CURRENT_USER SET enable_mergejoin = off;
