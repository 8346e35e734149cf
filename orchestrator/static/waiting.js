/* Moves a waiting parent on by itself.
 *
 * The join page carries data-state (what the server showed), data-state-url (a JSON endpoint
 * that answers the current state) and data-join-url (the join link itself). When the state
 * changes - the facilitator started the meeting, or it was cancelled - the page opens the join
 * link again, and the server leads into the room or shows what happened. A countdown to the
 * join window ticks from the seconds the server sent, so a phone whose clock is wrong still
 * counts correctly. Plain ES5, no framework; without JavaScript a meta refresh does the job.
 */
(function () {
  "use strict";
  var root = document.querySelector("[data-state-url]");
  if (!root) {
    return;
  }
  var stateUrl = root.getAttribute("data-state-url");
  var joinUrl = root.getAttribute("data-join-url");
  var shown = root.getAttribute("data-state");
  var pollMs = Math.max(2, parseInt(root.getAttribute("data-poll-seconds"), 10) || 5) * 1000;
  var leaving = false;

  function moveOn() {
    if (!leaving) {
      leaving = true;
      window.location.replace(joinUrl);
    }
  }

  function schedule(ms) {
    window.setTimeout(poll, ms);
  }

  function poll() {
    if (leaving) {
      return;
    }
    if (!window.fetch) {
      window.location.reload();
      return;
    }
    window
      .fetch(stateUrl, { cache: "no-store", credentials: "same-origin", headers: { Accept: "application/json" } })
      .then(function (response) {
        if (response.status === 403 || response.status === 404) {
          moveOn(); // the link or the enrolment changed: the join page explains
          return null;
        }
        if (!response.ok) {
          throw new Error("state " + response.status);
        }
        return response.json();
      })
      .then(function (data) {
        if (data === null) {
          return;
        }
        if (data.state !== shown) {
          moveOn();
        } else {
          schedule(pollMs);
        }
      })
      .catch(function () {
        schedule(Math.min(pollMs * 3, 30000)); // a dead spot on the train: try again a bit later
      });
  }

  function pad(n) {
    return (n < 10 ? "0" : "") + n;
  }

  var countdown = document.querySelector("[data-seconds-left]");
  if (countdown) {
    var deadline = Date.now() + parseInt(countdown.getAttribute("data-seconds-left"), 10) * 1000;
    var tick = function () {
      var left = Math.max(0, Math.round((deadline - Date.now()) / 1000));
      var h = Math.floor(left / 3600);
      var mnt = Math.floor((left % 3600) / 60);
      countdown.textContent = h + ":" + pad(mnt) + ":" + pad(left % 60);
      if (left <= 0) {
        moveOn();
      } else {
        window.setTimeout(tick, 1000);
      }
    };
    tick();
  }

  schedule(pollMs);
})();
