"""What every benchmark shares: PostgreSQL databases, gunicorn servers, load, CPU time, verdicts.

The benchmarks run as files (`python bench/x.py`), so `bench/` is first on sys.path and this
package is imported as `support`.
"""
