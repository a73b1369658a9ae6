.PHONY: run dev test bench
run:  ## serve Stride for real on this machine (gunicorn, DEBUG off, a worker), on the embedded defaults
	bin/run
dev:  ## develop: Django's development server (autoreload, DEBUG on) and a worker
	bin/dev
test: ## run the whole test suite (PostgreSQL + Redis when they answer)
	bin/test
bench: ## run every benchmark and print ratios
	STRIDE_EXTRAS=ml,test,bench bin/bootstrap && .venv/bin/python -m bench.run_all
