"""Scale-out: several real gateway processes on one PostgreSQL and one Redis behave as one."""
