"""UDFs that misbehave on purpose; only test nodes load them (``extra_udf_packages``), never production."""
