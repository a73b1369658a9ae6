.PHONY: run test bench
run:  ## start the site, a worker and the default course on the embedded defaults
	bin/run
test: ## run the whole test suite (PostgreSQL + Redis when they answer)
	bin/test
bench: ## run every benchmark and print ratios
	STRIDE_EXTRAS=ml,test,bench bin/bootstrap && .venv/bin/python -m bench.run_all
