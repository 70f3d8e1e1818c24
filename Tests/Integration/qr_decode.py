"""Reads the QR code the helper draws in a device/relay prompt, for real: the half-block text
(`▀ ▄ █`, light modules drawn, dark ones blank, as QRText.halfBlocks draws them) is turned back
into modules, rendered as an 8-bit grayscale picture with a wide light border, and decoded by
zbar (Debian libzbar0 through pyzbar; scripts/install-deps installs both).

    text = qr_payload(shown)      # the one QR code in `shown`, decoded; AssertionError if none"""
import ctypes.util

from pyzbar import pyzbar

BLOCKS = set(" \u2580\u2584\u2588")
SCALE = 6        # pixels per module
BORDER = 8       # extra light modules around the drawn quiet zone


def qr_block(shown):
    """The lines of the QR block in `shown` (consecutive lines of half blocks of one width)."""
    lines = shown.replace("\r", "").split("\n")
    best, run = [], []
    for line in lines + [""]:
        if line and set(line) <= BLOCKS and any(c != " " for c in line) and (not run or len(line) == len(run[0])):
            run.append(line)
            continue
        if len(run) > len(best):
            best = run
        run = [line] if line and set(line) <= BLOCKS and any(c != " " for c in line) else []
    return best


def modules(block):
    """Rows of booleans, True = light, two module rows per text line."""
    rows = []
    for line in block:
        rows.append([c in "\u2588\u2580" for c in line])
        rows.append([c in "\u2588\u2584" for c in line])
    return rows


def qr_payload(shown):
    block = qr_block(shown)
    assert len(block) >= 10, f"no QR block in the prompt:\n{shown}"
    rows = modules(block)
    if len(rows) == len(rows[0]) + 1:
        rows = rows[:-1]     # the odd row count's filler half below the quiet zone
    width = len(rows[0]) + 2 * BORDER
    height = len(rows) + 2 * BORDER
    pixels = bytearray(b"\xff" * (width * SCALE * height * SCALE))
    for y, row in enumerate(rows):
        for x, light in enumerate(row):
            if light:
                continue
            for dy in range(SCALE):
                start = ((y + BORDER) * SCALE + dy) * width * SCALE + (x + BORDER) * SCALE
                pixels[start:start + SCALE] = b"\x00" * SCALE
    found = pyzbar.decode((bytes(pixels), width * SCALE, height * SCALE), symbols=[pyzbar.ZBarSymbol.QRCODE])
    assert len(found) == 1, f"zbar found {len(found)} QR codes in the block:\n" + "\n".join(block)
    return found[0].data.decode("utf-8")


def zbar_available():
    return ctypes.util.find_library("zbar") is not None
