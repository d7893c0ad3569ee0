"""The generator turns marked solutions into stubs, and nothing else."""

import pytest

from exercises.generate import MarkerError, strip_solutions

SOLUTION = '''\
def encode(payload):
    """Keep me."""
    # BEGIN SOLUTION: prefix the length
    size = len(payload)
    return size.to_bytes(4, "big") + payload
    # END SOLUTION


class Decoder:
    def feed(self, data):
        if data:
            # BEGIN SOLUTION
            return [data]
            # END SOLUTION
        return []
'''

STUB = '''\
def encode(payload):
    """Keep me."""
    raise NotImplementedError('prefix the length')


class Decoder:
    def feed(self, data):
        if data:
            raise NotImplementedError('write this part')
        return []'''


def test_each_region_becomes_a_stub_at_its_indentation():
    assert strip_solutions(SOLUTION) == STUB


def test_a_cell_without_markers_is_unchanged():
    assert strip_solutions("x = 1\nprint(x)") == "x = 1\nprint(x)"


def test_hints_with_quotes_stay_valid_python():
    stub = strip_solutions(
        "def f():\n    # BEGIN SOLUTION: use 'big' \"endian\"\n    pass\n    # END SOLUTION"
    )
    namespace = {}
    exec(stub, namespace)
    with pytest.raises(NotImplementedError, match="use 'big' \"endian\""):
        namespace["f"]()


@pytest.mark.parametrize(
    "source",
    [
        "# BEGIN SOLUTION\nx = 1",
        "x = 1\n# END SOLUTION",
        "# BEGIN SOLUTION\n# BEGIN SOLUTION\n# END SOLUTION",
    ],
)
def test_unbalanced_markers_are_rejected(source):
    with pytest.raises(MarkerError):
        strip_solutions(source)
