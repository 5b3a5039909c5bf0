// Visit form: add up the per-muscle MMT-8 grades and the HAQ-DI / CHAQ categories as they are typed.
//
// The page works without this file: the server adds up the same grades when the form is saved,
// refuses a typed score that disagrees with them, and its result is what is stored. Here the
// sums are only shown early, and a complete grid fills in the score field. Loaded as a file
// because the Content-Security-Policy allows no inline script.
(function () {
  "use strict";

  var form = document.getElementById("visit-form");
  if (!form) {
    return;
  }

  var GRADE_MAX = 10;
  var SCALE_MAX = { mmt8_80: 80, mmt8_150: 150 };
  var HAQ_AIDS_MINIMUM = 2;
  var HAQ_MIN_CATEGORIES = 6;

  // A whole number within [min, max], or null for empty or anything else.
  function wholeNumber(text, min, max) {
    if (!/^\s*\d+\s*$/.test(text)) {
      return null;
    }
    var number = parseInt(text, 10);
    return number >= min && number <= max ? number : null;
  }

  // --- MMT-8 ---------------------------------------------------------------------------------

  var scale = form.elements.namedItem("mmt_scale");
  var mmtScore = form.elements.namedItem("mmt_score");
  var mmtSum = document.getElementById("mmt-sum");
  var grades = Array.prototype.slice.call(form.querySelectorAll("input.mmt-grade"));
  // Set when this script wrote the score, so a stale sum is cleared rather than kept.
  var mmtFilledHere = false;

  function neededGrades(scaleValue) {
    return grades.filter(function (input) {
      var side = input.dataset.mmtSide;
      return side === "axial" || side === "right" || (side === "left" && scaleValue === "mmt8_150");
    });
  }

  // keepTyped: on page load, a score already in the field (typed, or sent back by the server)
  // is left alone and any disagreement is only shown.
  function updateMmt(keepTyped) {
    if (!scale || !mmtScore || !mmtSum) {
      return;
    }
    var entered = grades.filter(function (input) {
      return input.value.trim() !== "";
    });
    if (entered.length === 0) {
      mmtSum.textContent = "No grades entered.";
      return;
    }
    var max = SCALE_MAX[scale.value];
    if (!max) {
      mmtSum.textContent = "Choose MMT-8 unilateral (0–80) or bilateral (0–150) as the scale to use the grades.";
      return;
    }
    var leftUsed = entered.some(function (input) {
      return input.dataset.mmtSide === "left";
    });
    if (max === 80 && leftUsed) {
      mmtSum.textContent = "Left-side grades are entered: choose MMT-8 bilateral (0–150), or clear the left column.";
      return;
    }
    var needed = neededGrades(scale.value);
    var total = 0;
    var filled = 0;
    var invalid = false;
    needed.forEach(function (input) {
      if (input.value.trim() === "") {
        return;
      }
      var grade = wholeNumber(input.value, 0, GRADE_MAX);
      if (grade === null) {
        invalid = true;
      } else {
        total += grade;
        filled += 1;
      }
    });
    if (invalid) {
      mmtSum.textContent = "Each grade is a whole number from 0 to 10.";
      return;
    }
    if (filled < needed.length) {
      mmtSum.textContent = filled + " of " + needed.length + " grades entered (sum so far " + total + ").";
      if (mmtFilledHere) {
        mmtScore.value = "";
        mmtFilledHere = false;
      }
      return;
    }
    if (keepTyped && mmtScore.value.trim() !== "" && Number(mmtScore.value) !== total) {
      mmtSum.textContent = "The grades add up to " + total + " of " + max + ", but the score says " + mmtScore.value + ".";
      return;
    }
    mmtSum.textContent = total + " of " + max + " (all " + needed.length + " grades); copied into the score.";
    mmtScore.value = String(total);
    mmtFilledHere = !keepTyped;
  }

  // --- HAQ-DI / CHAQ -------------------------------------------------------------------------

  var haqScore = form.elements.namedItem("haq_score");
  var haqMean = document.getElementById("haq-mean");
  var haqRows = Array.prototype.slice.call(form.querySelectorAll("#haq-grid tbody tr"));
  var haqFilledHere = false;

  // n / d rounded half up to 3 decimals, in whole numbers so it matches the server's exact result.
  function meanText(sum, count) {
    var thousandths = Math.floor((2 * sum * 1000 + count) / (2 * count));
    var whole = Math.floor(thousandths / 1000);
    var fraction = String(thousandths % 1000);
    while (fraction.length < 3) {
      fraction = "0" + fraction;
    }
    return whole + "." + fraction;
  }

  function updateHaq(keepTyped) {
    if (!haqScore || !haqMean) {
      return;
    }
    var sum = 0;
    var answered = 0;
    haqRows.forEach(function (row) {
      var select = row.querySelector("select.haq-score");
      var aids = row.querySelector("input.haq-aids");
      var counted = row.querySelector("output.haq-counted");
      var score = select ? wholeNumber(select.value, 0, 3) : null;
      if (score === null) {
        if (counted) {
          counted.textContent = aids && aids.checked ? "needs a score" : "";
        }
        return;
      }
      var value = aids && aids.checked ? Math.max(score, HAQ_AIDS_MINIMUM) : score;
      if (counted) {
        counted.textContent = String(value);
      }
      sum += value;
      answered += 1;
    });
    if (answered === 0) {
      haqMean.textContent = "No categories answered.";
      return;
    }
    if (answered < HAQ_MIN_CATEGORIES) {
      haqMean.textContent = answered + " of 8 answered: at least " + HAQ_MIN_CATEGORIES + " are needed.";
      if (haqFilledHere) {
        haqScore.value = "";
        haqFilledHere = false;
      }
      return;
    }
    var mean = meanText(sum, answered);
    if (keepTyped && haqScore.value.trim() !== "" && Number(haqScore.value) !== Number(mean)) {
      haqMean.textContent = sum + " / " + answered + " = " + mean + ", but the score says " + haqScore.value + ".";
      return;
    }
    haqMean.textContent = sum + " / " + answered + " = " + mean + "; copied into the score.";
    haqScore.value = mean;
    haqFilledHere = !keepTyped;
  }

  form.addEventListener("input", function (event) {
    var target = event.target;
    if (target === mmtScore) {
      mmtFilledHere = false;
    } else if (target === haqScore) {
      haqFilledHere = false;
    } else if (target.classList.contains("mmt-grade")) {
      updateMmt(false);
    }
  });
  form.addEventListener("change", function (event) {
    var target = event.target;
    if (target === scale || target.classList.contains("mmt-grade")) {
      updateMmt(false);
    } else if (target.classList.contains("haq-score") || target.classList.contains("haq-aids")) {
      updateHaq(false);
    }
  });

  // Show the sums of what the server sent back (a correction, or a form returned with errors).
  updateMmt(true);
  updateHaq(true);
})();
