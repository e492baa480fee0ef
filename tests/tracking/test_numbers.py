import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracking import numbers

bodies = st.text(alphabet="0123456789", min_size=11, max_size=11)


def _number(body: str) -> str:
    return f"QP{body}{numbers.damm_digit(body)}"


def test_it_generates_valid_numbers_of_the_documented_shape():
    for _ in range(200):
        number = numbers.generate()
        assert len(number) == 14
        assert number.startswith("QP") and number[2:].isdigit()
        assert numbers.parse(number) == number


@given(bodies, st.integers(min_value=0, max_value=11), st.integers(min_value=1, max_value=9))
def test_it_rejects_every_single_digit_error(body, position, delta):
    number = _number(body)
    digits = list(number[2:])
    digits[position] = str((int(digits[position]) + delta) % 10)
    mistyped = "QP" + "".join(digits)
    with pytest.raises(numbers.InvalidTrackingNumber) as caught:
        numbers.parse(mistyped)
    assert caught.value.reason == "check_digit"


@given(bodies, st.integers(min_value=0, max_value=10))
def test_it_rejects_every_adjacent_transposition(body, position):
    number = _number(body)
    digits = list(number[2:])
    if digits[position] == digits[position + 1]:
        return  # swapping equal digits is not an error
    digits[position], digits[position + 1] = digits[position + 1], digits[position]
    with pytest.raises(numbers.InvalidTrackingNumber) as caught:
        numbers.parse("QP" + "".join(digits))
    assert caught.value.reason == "check_digit"


@given(bodies)
def test_it_accepts_any_case_spacing_and_dashes(body):
    number = _number(body)
    messy = " " + numbers.display(number).lower().replace(" ", "-", 1) + "  "
    assert numbers.parse(messy) == number


@pytest.mark.parametrize("value", ["", "QP123", "XX123456789012", "QP12345678901234", "QP1234567890A1", "' OR 1=1 --"])
def test_it_rejects_malformed_input_as_format_errors(value):
    with pytest.raises(numbers.InvalidTrackingNumber) as caught:
        numbers.parse(value)
    assert caught.value.reason == "format"


def test_it_displays_numbers_in_groups_of_four():
    assert numbers.display("QP123456789012") == "QP12 3456 7890 12"


def test_it_splits_multi_number_input_on_commas_spaces_and_newlines():
    a, b, c = (numbers.generate() for _ in range(3))
    text = f"{numbers.display(a)}, {b}\n{c.lower()}"
    assert [numbers.parse(t) for t in numbers.split_many(text)] == [a, b, c]
