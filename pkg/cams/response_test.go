package cams_test

import (
	"testing"

	"github.com/wahealth/wahealth/pkg/cams"
	"github.com/wahealth/wahealth/pkg/health"
)

// docExample is the success example of the API's documentation.
const docExample = `{
  "AccessDeniedDetail": "无",
  "Message": "无",
  "RequestId": "DAC72B08-3327-33EF-BEDC-8EC3E83A6575",
  "Data": {
    "CanSendMessage": "AVAILABLE",
    "Entities": [
      {
        "EntityType": "PHONE_NUMBER",
        "TemplateCode": "939928****",
        "Errors": [
          {
            "ErrorDescription": "There is an error with the payment method.",
            "PossibleSolution": "There was an error with your payment method. Please add a new payment method to the account.",
            "ErrorCode": "141006"
          }
        ],
        "Language": "en",
        "CanSendMessage": "AVAILABLE",
        "PhoneNumber": "86138****",
        "WabaId": "39939***",
        "BusinessId": "3992****"
      }
    ]
  },
  "Code": "OK",
  "Success": true
}`

func TestParseDocumentedExample(t *testing.T) {
	r, err := cams.ParseResponse([]byte(docExample))
	if err != nil {
		t.Fatal(err)
	}
	if !r.OK() || r.RequestID != "DAC72B08-3327-33EF-BEDC-8EC3E83A6575" || !bool(r.Success) {
		t.Fatalf("envelope: %+v", r)
	}
	es := r.Entities(health.Target{NodeType: health.NodePhone, CustSpaceID: "cs"})
	if len(es) != 1 {
		t.Fatalf("entities: %+v", es)
	}
	e := es[0]
	if e.Key() != (health.Key{Type: health.PhoneNumber, ID: "86138****"}) || e.CanSendMessage != health.Available || !e.HasError("141006") {
		t.Errorf("entity: %+v", e)
	}
	if e.WabaID != "39939***" || e.BusinessID != "3992****" {
		t.Errorf("ids: %+v", e)
	}
}

func TestParseTolerance(t *testing.T) {
	tests := []struct {
		name, body string
		wantErr    bool
		check      func(t *testing.T, r *cams.Response)
	}{
		{"numeric ids and codes", `{"Code":"OK","Data":{"Entities":[{"EntityType":"WABA","WabaId":1234567890123,"Errors":[{"ErrorCode":141006}]}]}}`, false,
			func(t *testing.T, r *cams.Response) {
				e := r.Entities(health.Target{})[0]
				if e.ID != "1234567890123" || !e.HasError("141006") {
					t.Errorf("got %+v", e)
				}
			}},
		{"unknown enum values kept", `{"Code":"OK","Data":{"CanSendMessage":"SOMETHING","Entities":[{"EntityType":"NEW_THING","CanSendMessage":"WEIRD","WabaId":"w"}]}}`, false,
			func(t *testing.T, r *cams.Response) {
				e := r.Entities(health.Target{})[0]
				if e.Type != "NEW_THING" || e.CanSendMessage != "WEIRD" {
					t.Errorf("got %+v", e)
				}
			}},
		{"object AccessDeniedDetail", `{"Code":"Forbidden","AccessDeniedDetail":{"PolicyType":"x"}}`, false,
			func(t *testing.T, r *cams.Response) {
				if r.OK() || string(r.AccessDeniedDetail) == "" {
					t.Errorf("got %+v", r)
				}
			}},
		{"string Success", `{"Code":"OK","Success":"true"}`, false, func(t *testing.T, r *cams.Response) {
			if !bool(r.Success) {
				t.Error("Success not parsed")
			}
		}},
		{"not json", `<html>gateway error</html>`, true, nil},
		{"truncated", `{"Code":"OK","Data":{`, true, nil},
		{"bad Success", `{"Success":"maybe"}`, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := cams.ParseResponse([]byte(tt.body))
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, r)
			}
		})
	}
}

// FuzzParseResponse feeds arbitrary bodies to the parser and the normaliser: neither may
// panic, and every entity they produce has an identity.
func FuzzParseResponse(f *testing.F) {
	f.Add([]byte(docExample))
	f.Add([]byte(`{"Code":"OK","Data":{"Entities":[{"EntityType":"APP"}]}}`))
	f.Add([]byte(`{"Code":"Throttling.User","Message":"Request was denied due to user flow control."}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := cams.ParseResponse(body)
		if err != nil {
			return
		}
		for _, e := range r.Entities(health.Target{NodeType: health.NodePhone, CustSpaceID: "cs", PhoneNumber: "1"}) {
			if len(e.Sources) != 1 {
				t.Fatalf("entity without its source: %+v", e)
			}
		}
	})
}
