"""Runs the Python client suite (unittest) and writes one JSON object per test to the file named in argv[1]:
{"<test method name>": {"status": "pass" | "fail" | "skip", "output": "<traceback>"}}."""
import json
import sys
import unittest


class Recorder(unittest.TextTestResult):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.outcomes = {}

    def _name(self, test):
        return test.id().rsplit(".", 1)[-1]

    def addSuccess(self, test):
        super().addSuccess(test)
        self.outcomes[self._name(test)] = {"status": "pass", "output": ""}

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.outcomes[self._name(test)] = {"status": "fail", "output": self._exc_info_to_string(err, test)}

    def addError(self, test, err):
        super().addError(test, err)
        self.outcomes[self._name(test)] = {"status": "fail", "output": self._exc_info_to_string(err, test)}

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.outcomes[self._name(test)] = {"status": "skip", "output": reason}


def main():
    suite = unittest.defaultTestLoader.loadTestsFromName("test_storage")
    runner = unittest.TextTestRunner(resultclass=Recorder, verbosity=2, stream=sys.stdout)
    result = runner.run(suite)
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        json.dump(result.outcomes, f)
    sys.exit(0 if result.wasSuccessful() else 1)


if __name__ == "__main__":
    main()
