"""Run every benchmark of the project: python -m bench.run_all"""
from bench import instant_answer

if __name__ == "__main__":
    print("== instant answers vs a bare Django JSON view ==")
    instant_answer.main([])
