"""Money is integer fen; Decimal only at the edges, rounded half up once at a named step."""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

FEN_PER_YUAN = 100
MAX_YUAN_DIGITS = 13  # far above any real amount; keeps exponents like 1e999999999 out of the arithmetic


def round_half_up_to_fen(amount: Decimal) -> int:
    """四舍五入 to a whole fen: the single rounding step for computed amounts."""
    return int(amount.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def yuan_to_fen(text: str) -> int:
    """Parse a yuan amount typed by a person ("1234.5") into fen; more than 2 decimals is refused."""
    try:
        value = Decimal(str(text).strip().replace(",", ""))
    except (InvalidOperation, ArithmeticError) as exc:
        raise ValueError("not a number") from exc
    if not value.is_finite() or (value and value.adjusted() >= MAX_YUAN_DIGITS):
        raise ValueError("not a number in range")
    if value and value.adjusted() < -2:
        raise ValueError("at most two decimals")
    fen = value * FEN_PER_YUAN
    if fen != fen.to_integral_value():
        raise ValueError("at most two decimals")
    return int(fen)


def format_yuan(fen: int) -> str:
    """Fen as the yuan a person types into a form: 1234.50 (no sign for the currency, no separators)."""
    sign = "-" if fen < 0 else ""
    yuan, rest = divmod(abs(int(fen)), FEN_PER_YUAN)
    return f"{sign}{yuan}.{rest:02d}"


def format_fen(fen: int | None) -> str:
    """Render fen as yuan with two decimals and thousands separators (¥1,234.50)."""
    if fen is None:
        return ""
    sign = "-" if fen < 0 else ""
    yuan, rest = divmod(abs(int(fen)), FEN_PER_YUAN)
    return f"{sign}¥{yuan:,}.{rest:02d}"
