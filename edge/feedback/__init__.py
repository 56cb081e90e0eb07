"""Door feedback: what the member at the door sees and hears about each decision.

    decision → cue (granted / denied / closed, and the prompt for its reason)
             → worker thread → LEDs + buzzer pattern (`edge.hw.indicators`) and a voice prompt

`config` is the `[feedback]` section, `cues` the patterns and the reason → prompt table,
`voice` plays a pre-rendered prompt through a player process, `worker` runs all of it off the
door loop. Nothing here may slow the door or stop it: a full queue drops, a missing player or
file is counted, a hanging player is cut off.
"""
