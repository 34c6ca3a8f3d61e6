#!/bin/sh
# Full-page screenshots of a `replay --report` directory, as a reader sees it at two window
# widths: REPORT_DIR/screenshot-1400.png and REPORT_DIR/screenshot-1920.png.
#
#   tools/screenshots.sh REPORT_DIR
#
# Needs headless Chromium (`chromium`, or the command in $CHROMIUM); made by hand, not in CI.
# A page's full height depends on the window's width, so for each width the script first has
# Chromium lay out a copy of index.html with one line of script added that writes the page's
# height into the DOM (--dump-dom prints it), then screenshots the report itself in a window
# that tall. The report itself runs no script.
set -eu

if [ "$#" -ne 1 ] || [ ! -f "$1/index.html" ]; then
    echo "usage: tools/screenshots.sh REPORT_DIR (a directory with the index.html of replay --report)" >&2
    exit 2
fi
dir=$(cd "$1" && pwd)
chromium=${CHROMIUM:-chromium}
if ! command -v "$chromium" >/dev/null 2>&1; then
    echo "tools/screenshots.sh: $chromium not found (install chromium, or set CHROMIUM)" >&2
    exit 2
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT INT TERM

# Headless Chromium, with a profile of its own (so a running browser does not matter).
browse() {
    "$chromium" --headless --no-sandbox --disable-gpu --hide-scrollbars --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$work/profile" "$@" 2>"$work/stderr"
}

probe="$work/height.html"
sed 's|</body>|<script>document.body.setAttribute("data-page-height", Math.ceil(document.documentElement.scrollHeight));</script></body>|' \
    "$dir/index.html" >"$probe"

for width in 1400 1920; do
    height=$(browse --window-size="$width,1000" --dump-dom "file://$probe" |
        sed -n 's/.*data-page-height="\([0-9][0-9]*\)".*/\1/p' | head -n 1)
    if [ -z "$height" ]; then
        echo "tools/screenshots.sh: Chromium did not lay out $dir/index.html:" >&2
        cat "$work/stderr" >&2
        exit 1
    fi
    out="$dir/screenshot-$width.png"
    if ! browse --window-size="$width,$height" --screenshot="$out" "file://$dir/index.html"; then
        cat "$work/stderr" >&2
        exit 1
    fi
    echo "$out: $width x $height px"
done
