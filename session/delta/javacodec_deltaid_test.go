package delta

import (
	"errors"
	"testing"
)

// Tomcat's DeltaRequest.execute refuses a DeltaRequest whose own session id is not the
// id of the session it is applied to (IllegalArgumentException deltaRequest.ssid.mismatch,
// logged by DeltaManager.messageReceived: nothing applied). JavaCodec used to read the
// DeltaRequest's session id and drop it, so an EVT_SESSION_DELTA naming session A whose
// DeltaRequest is about session B decoded without error and its actions were applied to
// A; now the message is malformed.
func TestJavaCodecDeltaRequestIDMismatch(t *testing.T) {
	payload, err := TomcatDeltaPayload("OTHERSESSION", []Action{
		{Type: ActionAttribute, Op: OpRemove, Name: "cart"}})
	if err != nil {
		t.Fatal(err)
	}
	data, err := TomcatMessage(EventDelta, nil, "SESSIONA", payload)
	if err != nil {
		t.Fatal(err)
	}
	m, err := JavaCodec{}.DecodeMessage(data)
	if !errors.Is(err, ErrMalformed) {
		t.Errorf("an EVT_SESSION_DELTA for %s carrying the DeltaRequest of OTHERSESSION decoded: %d actions for %s",
			m.SessionID, len(m.Actions), m.SessionID)
	}
}
